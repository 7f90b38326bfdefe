"""Database tables, CRUD, migrations and the content-addressed image store."""
