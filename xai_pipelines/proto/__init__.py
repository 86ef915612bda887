"""Generated protobuf and gRPC stubs (package ``xai_api``). Do not edit by hand."""
