"""Command modules; importing one registers its commands on drillpe.app.app."""
