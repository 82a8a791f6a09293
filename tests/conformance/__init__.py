"""The resolver conformance suite (docs/reference.md §8, STYLE "One conformance suite"): written once against the
gRPC client and run against every engine's resolver; an engine is one `resolver` fixture param."""
