// The benchmark's peer: node-oidc-provider with one confidential client that may use
// client_credentials, introspection on, and one user access token (scope openid) minted at
// start for the userinfo case. `node bench/peer.mjs PORT`; prints the listening URL, then
// `userinfo token TOKEN`.
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 3000);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'bench',
    client_secret: 'bench-secret',
    grant_types: ['client_credentials', 'authorization_code'],
    redirect_uris: ['https://rp.example/cb'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  // What Tessera's userinfo answers for scope openid: the subject (read per request here too).
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    devInteractions: { enabled: false },
  },
});

// A user's access token, as the authorization code flow would have issued it.
async function userToken() {
  const client = await provider.Client.find('bench');
  const grant = new provider.Grant({ accountId: 'user0', clientId: 'bench' });
  grant.addOIDCScope('openid');
  const grantId = await grant.save();
  const token = new provider.AccessToken({ accountId: 'user0', client, grantId, scope: 'openid' });
  return token.save();
}

provider.listen(port, '127.0.0.1', async () => {
  console.log(`listening on http://127.0.0.1:${port}`);
  try {
    console.log(`userinfo token ${await userToken()}`);
  } catch (e) {
    console.log(`userinfo token unavailable: ${e.message}`);
  }
});
