# Empty compiler generated dependencies file for ingest_cost.
# This may be replaced when dependencies are built.
