# Empty compiler generated dependencies file for test_source_shopify.
# This may be replaced when dependencies are built.
