file(REMOVE_RECURSE
  "libttrelay.a"
)
