// Copied from the PostGraphile peer setup used for the side-by-side measurements (unchanged but for this line).
// PostGraphile 5 for the peer benchmark: the amber preset, simplified inflection,
// schema pg5 only, production mode (no GraphiQL, no explain, no watch).
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";

const port = Number(process.env.PG5_PORT || 18402);
// B': PG5_CUSTOM_PLANS=1 gives PostGraphile's pool plan_cache_mode=force_custom_plan, so that
// the prepared search statement is planned with its values (the generic plan folds the term per row).
const base = process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/peer_gql";
const connectionString = process.env.PG5_CUSTOM_PLANS === "1"
  ? base + "?options=" + encodeURIComponent("-c plan_cache_mode=force_custom_plan")
  : base;
export default {
  extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset],
  pgServices: [
    makePgService({
      connectionString,
      schemas: ["pg5"],
    }),
  ],
  grafserv: { port, host: "127.0.0.1", graphiql: false, watch: false },
  grafast: { explain: false },
};
