# Empty compiler generated dependencies file for ttrelay.
# This may be replaced when dependencies are built.
