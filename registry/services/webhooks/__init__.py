"""Webhooks: events written with what causes them, fanned out and delivered by a worker."""
