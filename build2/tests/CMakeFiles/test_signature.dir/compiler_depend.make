# Empty compiler generated dependencies file for test_signature.
# This may be replaced when dependencies are built.
