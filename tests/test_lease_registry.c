/* test_lease_registry.c: the whole lease suite (test_lease.c) again, every
 * member's storage the registry service (services/registry) reached over
 * ZeroMQ through its client (lib/pipe/registry.h), as the trainers use it:
 * the protocol must hold unchanged when its records live in another process,
 * the race between processes included. The tests look at and damage the
 * records in the registry's own LMDB store, opened beside it. */
#define DN_LEASE_OVER_REGISTRY 1
#include "test_lease.c"
