"""The assistant service: members' conversations and reply-job intake now; the fitness assistant (retrieval,
recommendations, booking by conversation) arrives with issue "gymchain, part 3"."""
