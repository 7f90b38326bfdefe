"""Inference without TensorFlow: safe decoding, canonical preprocessing, the LiteRT engine."""
