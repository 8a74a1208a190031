// The organisation's identity provider, for the sign-in tests: panva's node-oidc-provider
// (an OpenID Certified implementation), on loopback, with its development login pages.
//
//   node provider.mjs PORT REDIRECT_URI
//
// Accounts are named by the login typed on its page; their claims say which registry role,
// lists and scope each holds (see ACCOUNTS). Clients: "registry" (the registry under test),
// "other-app" (another application of the same organisation) and "short-lived" (whose ID
// tokens live one second). Authorization code with PKCE (S256) only.
import Provider from 'oidc-provider';

const [port, redirect] = process.argv.slice(2);
const ACCOUNTS = {
  'hoa.nguyen': { registry_role: 'steward', registry_lists: ['admin-units'] },
  'ubnd-ha-noi': { registry_role: 'proposer', registry_scope: '01' },
  'it.admin': { registry_role: ['dmdc-admins', 'reader'] },
  'nobody': {},
};
const client = (id, extra = {}) => ({
  client_id: id, client_secret: `${id}-secret`, redirect_uris: [redirect],
  grant_types: ['authorization_code'], response_types: ['code'], ...extra,
});

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [client('registry'), client('other-app'), client('short-lived')],
  pkce: { required: () => true, methods: ['S256'] },
  scopes: ['openid', 'profile'],
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'registry_role', 'registry_lists', 'registry_scope'],
  },
  conformIdTokenClaims: false, // the profile claims go in the ID token, as many IdPs do
  ttl: {
    IdToken: (ctx, token, c) => (c && c.clientId === 'short-lived' ? 1 : 3600),
    AccessToken: 600, AuthorizationCode: 60, Grant: 600, Interaction: 600, Session: 600,
  },
  cookies: { keys: ['test-only-cookie-key'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, ...(ACCOUNTS[id] || {}) };
      },
    };
  },
});
provider.proxy = false;
provider.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`listening ${port}\n`);
});
