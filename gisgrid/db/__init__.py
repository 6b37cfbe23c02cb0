"""Database layer: engine and sessions, models, named spatial queries, migrations, local cluster."""
