# Empty dependencies file for test_sample.
# This may be replaced when dependencies are built.
