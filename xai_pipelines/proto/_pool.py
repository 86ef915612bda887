"""The private descriptor pool of the generated stubs (written by scripts/gen_protos.py).

Our ``xai_api.*`` messages live here rather than in protobuf's default pool, where
the official ``xai_sdk`` registers the same names. Well-known types that our
messages embed are added first; message fields of those types are instances of the
classes below (not of ``google.protobuf.timestamp_pb2.Timestamp``), so build them
with these classes or through the field (``msg.created.FromSeconds(...)``).
"""

from google.protobuf import any_pb2, descriptor_pool, empty_pb2, message_factory, timestamp_pb2
from google.rpc import status_pb2

POOL = descriptor_pool.DescriptorPool()
for _module in (any_pb2, empty_pb2, timestamp_pb2, status_pb2):
    POOL.AddSerializedFile(_module.DESCRIPTOR.serialized_pb)

Timestamp = message_factory.GetMessageClass(POOL.FindMessageTypeByName("google.protobuf.Timestamp"))
Status = message_factory.GetMessageClass(POOL.FindMessageTypeByName("google.rpc.Status"))

__all__ = ["POOL", "Status", "Timestamp"]
