# Empty compiler generated dependencies file for ttrelayctl.
# This may be replaced when dependencies are built.
