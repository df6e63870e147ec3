"""A minimal Hydra app for testing `sparselab <app>` forwarding."""
