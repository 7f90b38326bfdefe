"""The HTTP service (needs the ``serve`` extra). Build it with :func:`artifact.api.app.create_app`."""
