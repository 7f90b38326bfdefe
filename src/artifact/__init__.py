"""ArtiFact: detect AI-generated artworks, say how sure, and show why."""

__version__ = "0.1.0"
