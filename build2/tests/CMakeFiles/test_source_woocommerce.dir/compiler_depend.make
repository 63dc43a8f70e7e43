# Empty compiler generated dependencies file for test_source_woocommerce.
# This may be replaced when dependencies are built.
