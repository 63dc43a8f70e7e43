# Empty dependencies file for test_tiktok_body.
# This may be replaced when dependencies are built.
