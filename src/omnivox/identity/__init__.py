"""One customer across channels: identifier kinds, verification, merges, consent."""
