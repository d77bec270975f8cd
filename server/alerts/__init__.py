"""Alert engine: rule specs, schedules, zones, matching, cooldown and webhook delivery.

The modules here are pure logic (plus Redis for the cooldown and HTTP for webhooks) so the API can
validate with exactly the rules the engine applies, and both can be tested without a database.
"""
