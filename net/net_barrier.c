/*
 * net_barrier.c -- the payload of RESUME, the frame with which a client
 * answers a remote child's BARRIER (net/PROTOCOL.md, "Barriers").
 * Pure: no system calls; a fuzz target (fuzz_proto.c).
 */
#include <errno.h>
#include <string.h>

#include "net.h"

/* see net.h */
int
net_resume_parse(const uint8_t *p, size_t len, int32_t *rc,
		 uint64_t (*out)[2], size_t max, size_t *n)
{
	size_t k, i;
	uint32_t cnt;
	int err;

	if (len < 8 || (len - 8) % 16)
		return -EPROTO;
	memcpy(rc, p, 4);
	memcpy(&cnt, p + 4, 4);
	if (cnt < 2 || cnt != (len - 8) / 16)
		return -EPROTO;
	if (cnt > max)
		return -EMSGSIZE;
	for (i = 0; i < 2; i++) {
		memcpy(&out[i][0], p + 8 + i * 16, 8);
		memcpy(&out[i][1], p + 8 + i * 16 + 8, 8);
		if (out[i][0] >= out[i][1])
			return -EPROTO;
	}
	err = net_ranges_parse(p + 8 + 32, len - 8 - 32, out + 2, max - 2,
			       &k);
	if (err)
		return err;
	*n = k + 2;
	return 0;
}
