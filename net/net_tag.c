/*
 * net_tag.c -- the tag every frame after AUTH_OK carries (PROTOCOL.md
 * "Frame tags"), with libsodium only:
 *
 *   session   m = BLAKE2b-256 keyed with K of ("detd-kx" nc ns)
 *   keys      k_cs = KDF(m, 1, "detdsess"), k_sc = KDF(m, 2, "detdsess")
 *   frame     otk = ChaCha20(k_dir, nonce = seq)[0..32)
 *             tag = Poly1305(otk, header || payload)
 *
 * Fresh nonces from both sides make the keys new in every session; one
 * key per direction keeps a frame from being reflected; the seq (in the
 * header and in the nonce) makes every frame's one-time key different,
 * so a replayed, reordered or dropped frame fails.  This is the MAC half
 * of secretbox's construction (with ChaCha20): Poly1305 was the fastest
 * MAC with a streaming interface on the machines measured (papers/det.md
 * "Remote spaces"); frames are sent from iovecs and received in pieces.
 */
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "net.h"

_Static_assert(sizeof(crypto_onetimeauth_state) <=
	       sizeof(((struct net_tag *)0)->st), "net_tag too small");
_Static_assert(NET_TAG_LEN == crypto_onetimeauth_BYTES, "tag length");

/* see net.h */
void
net_session_keys(const uint8_t key[NET_KEY_LEN], const uint8_t *nc,
		 const uint8_t *ns, int server, struct net_keys *out)
{
	uint8_t msg[8 + 2 * NET_NONCE_LEN] = "detd-kx";
	uint8_t m[crypto_kdf_KEYBYTES], *cs, *sc;

	memcpy(msg + 8, nc, NET_NONCE_LEN);
	memcpy(msg + 8 + NET_NONCE_LEN, ns, NET_NONCE_LEN);
	crypto_generichash(m, sizeof(m), msg, sizeof(msg), key, NET_KEY_LEN);
	cs = server ? out->rx : out->tx;
	sc = server ? out->tx : out->rx;
	crypto_kdf_derive_from_key(cs, NET_KEY_LEN, 1, "detdsess", m);
	crypto_kdf_derive_from_key(sc, NET_KEY_LEN, 2, "detdsess", m);
	sodium_memzero(m, sizeof(m));
}

/* see net.h */
void
net_tag_begin(struct net_tag *t, const uint8_t key[NET_KEY_LEN],
	      const uint8_t *hdr)
{
	uint8_t otk[crypto_onetimeauth_KEYBYTES], nonce[8] = { 0 };

	memcpy(nonce, hdr + 8, 4);	/* the seq, little endian */
	crypto_stream_chacha20(otk, sizeof(otk), nonce, key);
	crypto_onetimeauth_init((crypto_onetimeauth_state *)t->st, otk);
	sodium_memzero(otk, sizeof(otk));
	crypto_onetimeauth_update((crypto_onetimeauth_state *)t->st, hdr,
				  NET_HDR_LEN);
}

/* see net.h */
void
net_tag_update(struct net_tag *t, const void *p, size_t len)
{
	crypto_onetimeauth_update((crypto_onetimeauth_state *)t->st, p, len);
}

/* see net.h */
void
net_tag_final(struct net_tag *t, uint8_t out[NET_TAG_LEN])
{
	crypto_onetimeauth_final((crypto_onetimeauth_state *)t->st, out);
}

/* see net.h */
int
net_tag_check(struct net_tag *t, const uint8_t got[NET_TAG_LEN])
{
	uint8_t want[NET_TAG_LEN];
	int r;

	net_tag_final(t, want);
	r = crypto_verify_16(want, got);
	sodium_memzero(want, sizeof(want));
	return r == 0 ? 0 : -EKEYREJECTED;
}

/* see net.h */
void
net_conn_key(struct net_conn *c, const struct net_keys *k)
{
	c->k = *k;
	c->keyed = 1;
	c->rx_left = 0;
}

/* see net.h */
void
net_conn_drop_rx(struct net_conn *c)
{
	sodium_memzero(c->k.rx, sizeof(c->k.rx));
}

/* see net.h */
void
net_keys_wipe(struct net_keys *k)
{
	sodium_memzero(k, sizeof(*k));
}
