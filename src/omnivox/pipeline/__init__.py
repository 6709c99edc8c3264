"""The turn pipeline: small steps run in order by a runner that only knows steps."""
