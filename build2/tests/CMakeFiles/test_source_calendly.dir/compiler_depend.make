# Empty compiler generated dependencies file for test_source_calendly.
# This may be replaced when dependencies are built.
