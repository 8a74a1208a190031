"""The webhook delivery worker and the ``registry webhook`` commands."""
