# Empty compiler generated dependencies file for test_timeparse.
# This may be replaced when dependencies are built.
