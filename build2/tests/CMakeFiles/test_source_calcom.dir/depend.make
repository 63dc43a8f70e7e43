# Empty dependencies file for test_source_calcom.
# This may be replaced when dependencies are built.
