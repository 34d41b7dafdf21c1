"""Storage: SQLAlchemy Core tables, one repository per aggregate, Alembic migrations; SQLite or PostgreSQL."""
