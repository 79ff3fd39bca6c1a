"""The vision service: video-analysis job intake and the vision events store now; the people-counting, posture
and equipment-misuse models arrive with issue "gymchain, part 3"."""
