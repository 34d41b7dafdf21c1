"""SQL implementations of the store protocols (SQLite and PostgreSQL through SQLAlchemy Core)."""
