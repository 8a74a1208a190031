"""Services: the one write path (DESIGN §4.6). They flush; the edge commits."""
