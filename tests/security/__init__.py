"""The attack suite: each test is an attack that must fail, with the host watching for its effect."""
