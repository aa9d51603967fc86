/*
 * net_tag.c -- the tag every frame after AUTH_OK carries (PROTOCOL.md
 * "Frame tags"), with libsodium only:
 *
 *   session   m = BLAKE2b-256 keyed with K of ("detd-kx" kind nc ns)
 *   keys      k_cs = KDF(m, 1, "detdsess"), k_sc = KDF(m, 2, "detdsess")
 *   frame     Poly1305:  otk = ChaCha20(k_dir, nonce = seq type)[0..32)
 *                        tag = Poly1305(otk, header || payload)
 *             AES-GCM:   tag = the GCM tag under k_dir, nonce = seq type, of
 *                        plaintext header || payload[0..16) (the
 *                        ciphertext is dropped) and additional data
 *                        payload[16..)
 *
 * Fresh nonces from both sides make the keys new in every session; one
 * key per direction keeps a frame from being reflected; the seq (in the
 * header and in the nonce) makes every frame's key stream different, so
 * a replayed, reordered or dropped frame fails.  The nonce also holds
 * the frame's type: detd continues the worker's numbering from a
 * counter on the control page, which the worker's user code could set
 * back, but the frames detd sends after the worker (OUTPUT, STATUS) are
 * of types the worker never sends, so no nonce is used twice.
 * Poly1305 is the MAC half of secretbox's construction (with ChaCha20)
 * and streams; GCM runs about twice as fast on CPUs with AES-NI and
 * PCLMUL, but libsodium only has it one-shot, so the bulk of a payload
 * must be one contiguous piece (it is, for every frame det sends and
 * receives).
 */
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "net.h"

_Static_assert(sizeof(crypto_onetimeauth_state) <=
	       sizeof(((struct net_tag *)0)->st), "net_tag too small");
_Static_assert(NET_TAG_LEN == crypto_onetimeauth_BYTES, "tag length");
_Static_assert(NET_TAG_LEN == crypto_aead_aes256gcm_ABYTES, "tag length");
_Static_assert(NET_KEY_LEN == crypto_aead_aes256gcm_KEYBYTES, "key");

/* DET_NET_TAG=poly1305: never AES-GCM (det_private: never merged). */
static int gcm_off __attribute__((section("det_private")));

/* see net.h */
int
net_tag_gcm_ok(void)
{
	return !gcm_off && crypto_aead_aes256gcm_is_available();
}

/* see net.h */
void
net_tag_gcm_off(void)
{
	gcm_off = 1;
}

/* see net.h */
void
net_session_keys(const uint8_t key[NET_KEY_LEN], const uint8_t *nc,
		 const uint8_t *ns, unsigned kind, int server,
		 struct net_keys *out)
{
	uint8_t msg[8 + 2 * NET_NONCE_LEN] = "detd-kx";
	uint8_t m[crypto_kdf_KEYBYTES], *cs, *sc;

	msg[7] = (uint8_t)kind;
	out->kind = kind;
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
net_tag_begin(struct net_tag *t, unsigned kind,
	      const uint8_t key[NET_KEY_LEN], const uint8_t *hdr)
{
	uint8_t otk[crypto_onetimeauth_KEYBYTES], nonce[8] = { 0 };

	t->kind = kind;
	t->bad = 0;
	if (kind == NET_TAG_AESGCM) {
		t->key = key;
		memcpy(t->m, hdr, NET_HDR_LEN);
		t->mlen = NET_HDR_LEN;
		t->ad = NULL;
		t->adlen = 0;
		return;
	}
	memcpy(nonce, hdr + 8, 4);	/* the seq, little endian */
	nonce[4] = hdr[5];		/* and the type (below) */
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
	const uint8_t *b = p;
	size_t k;

	if (t->kind != NET_TAG_AESGCM) {
		crypto_onetimeauth_update((crypto_onetimeauth_state *)t->st,
					  p, len);
		return;
	}
	k = sizeof(t->m) - t->mlen;
	k = len < k ? len : k;
	memcpy(t->m + t->mlen, b, k);
	t->mlen += k;
	if (len == k)
		return;
	if (t->ad)
		t->bad = 1;	/* the rest in more than one piece */
	t->ad = b + k;
	t->adlen = len - k;
}

/* see net.h */
void
net_tag_final(struct net_tag *t, uint8_t out[NET_TAG_LEN])
{
	uint8_t nonce[crypto_aead_aes256gcm_NPUBBYTES] = { 0 };
	uint8_t c[sizeof(t->m)];
	unsigned long long n;

	if (t->kind != NET_TAG_AESGCM) {
		crypto_onetimeauth_final((crypto_onetimeauth_state *)t->st,
					 out);
		return;
	}
	memcpy(nonce, t->m + 8, 4);	/* the seq, little endian */
	nonce[4] = t->m[5];		/* and the type (below) */
	if (t->bad || crypto_aead_aes256gcm_encrypt_detached(c, out, &n,
			t->m, t->mlen, t->ad, t->adlen, NULL, nonce, t->key))
		t->bad = 1;
	sodium_memzero(c, sizeof(c));
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
	if (t->bad)
		return -EINVAL;
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
net_keys_wipe(struct net_keys *k)
{
	sodium_memzero(k, sizeof(*k));
}
