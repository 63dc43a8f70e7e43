# Empty dependencies file for ttrelayd.
# This may be replaced when dependencies are built.
