"""Dataset layouts, labels per task, balancing and splits, the tf.data pipeline, the audit."""
