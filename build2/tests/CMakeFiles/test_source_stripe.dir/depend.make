# Empty dependencies file for test_source_stripe.
# This may be replaced when dependencies are built.
