// A reuse grace for rotated refresh tokens, around any oidc-provider storage adapter.
//
// oidc-provider rotates a refresh token by marking it consumed and issuing a new one; a consumed token
// presented again is taken for a stolen one: the whole grant is revoked. When the reply carrying the new
// token is lost (the IdP dies while answering, the connection drops), the client can only retry with the
// token it has, and that retry would end the user's sign-in. With a grace of N seconds, a refresh token
// used again within N seconds of its first use is accepted again (and rotated again; the token of the
// lost reply stays valid until it expires); after that, reuse revokes the grant as before. oidc-provider 9 has no setting for this: its refresh_token grant
// reads `consumed` from the adapter's find(), which is the seam used here.
export function withReuseGrace(Adapter, graceSeconds) {
  if (!graceSeconds) return Adapter;
  const now = () => Math.floor(Date.now() / 1000);

  return class ReuseGraceAdapter extends Adapter {
    async find(id) {
      const payload = await super.find(id);
      if (this.model !== 'RefreshToken' || !payload?.consumed) return payload;
      if (now() - payload.consumed > graceSeconds) return payload;
      const { consumed, ...unconsumed } = payload; // within the grace: usable again
      return unconsumed;
    }

    async consume(id) {
      if (this.model === 'RefreshToken') {
        const payload = await super.find(id);
        if (payload?.consumed) return; // the grace counts from the first use, however often it is retried
      }
      await super.consume(id);
    }
  };
}
