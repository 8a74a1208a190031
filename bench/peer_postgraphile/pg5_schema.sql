-- Copied from the PostGraphile peer setup used for the side-by-side measurements (unchanged but for this line).
-- The shape PostGraphile 5 serves: schema pg5, over the registry's own tables (read-only).
-- Every row carries the date it answers for (as_of); nested fields answer at that date,
-- as the registry's nested fields answer at their parent's asOf.
CREATE EXTENSION IF NOT EXISTS unaccent;      -- folds the search term (the column is folded already)
CREATE SCHEMA IF NOT EXISTS pg5;

-- An entry as of a date. The view is today's state; the functions return its row type for any date.
CREATE OR REPLACE VIEW pg5.entry AS
SELECT cl.key::text AS list, v.code::text AS code, v.name, v.short_name, v.name_en,
       v.type::text AS type, v.level::text AS level, v.status::text AS status,
       v.parent_code::text AS parent_code, v.valid_from, v.valid_to, v.recorded_release,
       v.list_id, current_date AS as_of
FROM public.entry_versions v JOIN public.code_lists cl ON cl.id = v.list_id
WHERE v.superseded_release IS NULL AND v.valid_from <= current_date
  AND (v.valid_to IS NULL OR v.valid_to > current_date);
COMMENT ON VIEW pg5.entry IS E'An entry of a code list on a date (the view: today).\n@behavior -insert -update -delete';
COMMENT ON COLUMN pg5.entry.list_id IS E'@behavior -*';

-- One entry on a date (registry: entry(list, code, asOf)).
CREATE OR REPLACE FUNCTION pg5.entry_on(list text, code text, as_of date) RETURNS pg5.entry
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT entry_on.list, v.code::text, v.name, v.short_name, v.name_en, v.type::text, v.level::text,
         v.status::text, v.parent_code::text, v.valid_from, v.valid_to, v.recorded_release,
         v.list_id, entry_on.as_of
  FROM public.entry_versions v
  WHERE v.list_id = (SELECT id FROM public.code_lists c WHERE c.key = entry_on.list)
    AND v.code = entry_on.code AND v.superseded_release IS NULL
    AND v.valid_from <= entry_on.as_of AND (v.valid_to IS NULL OR v.valid_to > entry_on.as_of)
$$;

-- parent / children computed columns, at the row's own as_of.
CREATE OR REPLACE FUNCTION pg5.entry_parent(e pg5.entry) RETURNS pg5.entry
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT e.list, v.code::text, v.name, v.short_name, v.name_en, v.type::text, v.level::text,
         v.status::text, v.parent_code::text, v.valid_from, v.valid_to, v.recorded_release,
         v.list_id, e.as_of
  FROM public.entry_versions v
  WHERE v.list_id = e.list_id AND v.code = e.parent_code AND v.superseded_release IS NULL
    AND v.valid_from <= e.as_of AND (v.valid_to IS NULL OR v.valid_to > e.as_of)
$$;

CREATE OR REPLACE FUNCTION pg5.entry_children(e pg5.entry) RETURNS SETOF pg5.entry
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT e.list, v.code::text, v.name, v.short_name, v.name_en, v.type::text, v.level::text,
         v.status::text, v.parent_code::text, v.valid_from, v.valid_to, v.recorded_release,
         v.list_id, e.as_of
  FROM public.entry_versions v
  WHERE v.list_id = e.list_id AND v.parent_code = e.code AND v.status = 'active'
    AND v.superseded_release IS NULL
    AND v.valid_from <= e.as_of AND (v.valid_to IS NULL OR v.valid_to > e.as_of)
  ORDER BY v.code
$$;

-- Folding as the registry's registry.text.fold does (NFD, strip marks, casefold, d for đ,
-- whitespace collapsed): immutable wrapper, the usual f_unaccent pattern; hidden from GraphQL.
CREATE OR REPLACE FUNCTION pg5.fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT regexp_replace(btrim(lower(public.unaccent('public.unaccent'::regdictionary, normalize(t, NFC)))), '\s+', ' ', 'g')
$$;
COMMENT ON FUNCTION pg5.fold(text) IS E'@behavior -*';
CREATE OR REPLACE FUNCTION pg5.like_escape(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT replace(replace(replace(t, '\', '\\'), '%', '\%'), '_', '\_')
$$;
COMMENT ON FUNCTION pg5.like_escape(text) IS E'@behavior -*';

-- Diacritic-insensitive search (registry: entries(list, search, asOf)): the same folded
-- column (search_key = fold(name); lower(unaccent(name)) equals it on every row) and the
-- registry's trigram index; ordered by folded name then code, as the registry orders.
CREATE OR REPLACE FUNCTION pg5.search_entries(list text, term text, as_of date)
RETURNS SETOF pg5.entry
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT search_entries.list, v.code::text, v.name, v.short_name, v.name_en, v.type::text,
         v.level::text, v.status::text, v.parent_code::text, v.valid_from, v.valid_to,
         v.recorded_release, v.list_id, search_entries.as_of
  FROM public.entry_versions v
  WHERE v.list_id = (SELECT id FROM public.code_lists c WHERE c.key = search_entries.list)
    AND v.status = 'active' AND v.superseded_release IS NULL
    AND v.valid_from <= search_entries.as_of
    AND (v.valid_to IS NULL OR v.valid_to > search_entries.as_of)
    AND v.search_key LIKE '%' || pg5.like_escape(pg5.fold(search_entries.term)) || '%'
  ORDER BY v.search_key, v.code
$$;

-- resolve: what a code denotes on a date; an ended code's successors (transitively).
DROP TYPE IF EXISTS pg5.resolution, pg5.successor CASCADE;
CREATE TYPE pg5.resolution AS (list text, code text, as_of date, status text, ended_on date,
                               list_id integer);
CREATE TYPE pg5.successor AS (list text, from_code text, code text, is_default boolean,
                              kinds text[], share double precision, as_of date, list_id integer);

CREATE OR REPLACE FUNCTION pg5.resolve(list text, code text, as_of date) RETURNS pg5.resolution
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT resolve.list, resolve.code, resolve.as_of,
         CASE WHEN v.status = 'active' THEN 'active' ELSE 'ended' END,
         CASE WHEN v.status = 'active' THEN NULL ELSE v.valid_from END, v.list_id
  FROM public.entry_versions v
  WHERE v.list_id = (SELECT id FROM public.code_lists c WHERE c.key = resolve.list)
    AND v.code = resolve.code AND v.superseded_release IS NULL
    AND v.valid_from <= resolve.as_of AND (v.valid_to IS NULL OR v.valid_to > resolve.as_of)
$$;

CREATE OR REPLACE FUNCTION pg5.resolution_entry(r pg5.resolution) RETURNS pg5.entry
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT r.list, v.code::text, v.name, v.short_name, v.name_en, v.type::text, v.level::text,
         v.status::text, v.parent_code::text, v.valid_from, v.valid_to, v.recorded_release,
         v.list_id, r.as_of
  FROM public.entry_versions v
  WHERE v.list_id = r.list_id AND v.code = r.code AND v.superseded_release IS NULL
    AND v.valid_from <= r.as_of AND (v.valid_to IS NULL OR v.valid_to > r.as_of)
$$;

-- Successors: follow links in effect on as_of through ended codes until active entries;
-- a path is default if every link on it is; the default first, then by code.
CREATE OR REPLACE FUNCTION pg5.resolution_successors(r pg5.resolution) RETURNS SETOF pg5.successor
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  WITH RECURSIVE walk(to_code, is_default, kinds, share, depth, active) AS (
      SELECT l.to_code::text, l.is_default, ARRAY[l.kind::text], l.share, 1,
             EXISTS (SELECT 1 FROM public.entry_versions w WHERE w.list_id = r.list_id
                       AND w.code = l.to_code AND w.status = 'active' AND w.superseded_release IS NULL
                       AND w.valid_from <= r.as_of AND (w.valid_to IS NULL OR w.valid_to > r.as_of))
      FROM public.lineage_links l
      WHERE r.status = 'ended' AND l.list_id = r.list_id AND l.from_code = r.code
        AND l.effective_date <= r.as_of
    UNION ALL
      SELECT l.to_code::text, w.is_default AND l.is_default, w.kinds || l.kind::text,
             coalesce(w.share * l.share, w.share, l.share), w.depth + 1,
             EXISTS (SELECT 1 FROM public.entry_versions x WHERE x.list_id = r.list_id
                       AND x.code = l.to_code AND x.status = 'active' AND x.superseded_release IS NULL
                       AND x.valid_from <= r.as_of AND (x.valid_to IS NULL OR x.valid_to > r.as_of))
      FROM walk w JOIN public.lineage_links l
        ON l.list_id = r.list_id AND l.from_code = w.to_code AND l.effective_date <= r.as_of
      WHERE NOT w.active AND w.depth < 10
  )
  SELECT r.list, r.code, to_code, is_default, kinds, share, r.as_of, r.list_id
  FROM (SELECT DISTINCT ON (to_code) * FROM walk WHERE active ORDER BY to_code, NOT is_default) s
  ORDER BY NOT is_default, to_code
$$;

CREATE OR REPLACE FUNCTION pg5.successor_entry(s pg5.successor) RETURNS pg5.entry
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT s.list, v.code::text, v.name, v.short_name, v.name_en, v.type::text, v.level::text,
         v.status::text, v.parent_code::text, v.valid_from, v.valid_to, v.recorded_release,
         v.list_id, s.as_of
  FROM public.entry_versions v
  WHERE v.list_id = s.list_id AND v.code = s.code AND v.superseded_release IS NULL
    AND v.valid_from <= s.as_of AND (v.valid_to IS NULL OR v.valid_to > s.as_of)
$$;

-- Smart tags: the computed-column functions on the composite types are type fields only.
COMMENT ON FUNCTION pg5.resolution_successors(pg5.resolution) IS E'@behavior -queryField -connection +list';
COMMENT ON FUNCTION pg5.resolution_entry(pg5.resolution) IS E'@behavior -queryField';
COMMENT ON FUNCTION pg5.successor_entry(pg5.successor) IS E'@behavior -queryField';
COMMENT ON COLUMN pg5.resolution.list_id IS E'@behavior -*';
COMMENT ON COLUMN pg5.successor.list_id IS E'@behavior -*';
