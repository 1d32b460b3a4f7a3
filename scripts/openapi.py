#!/usr/bin/env python3
"""Writes docs/openapi.json, the admin API's description. Edit here, run it, and commit both;
tests/admin.rs checks that the file and the routes the server answers are the same."""
import json
import os
def q(name, desc, typ="string", required=False, extra=None):
    s={"type":typ}
    if extra: s.update(extra)
    return {"name":name,"in":"query","required":required,"description":desc,"schema":s}
def ok(desc, schema_ref=None, code="200"):
    r={"description":desc}
    if schema_ref: r["content"]={"application/json":{"schema":{"$ref":"#/components/schemas/"+schema_ref}}}
    return {code:r}
err = {"400":{"$ref":"#/components/responses/Bad"},"401":{"$ref":"#/components/responses/Unauthorized"},"403":{"$ref":"#/components/responses/Forbidden"}}
def op(summary, desc, responses, params=None, body=None, tag="admin"):
    o={"summary":summary,"description":desc,"tags":[tag],"responses":{**responses, **err}}
    if params: o["parameters"]=params
    if body: o["requestBody"]=body
    return o
def jbody(ref, required=True):
    return {"required":required,"content":{"application/json":{"schema":{"$ref":"#/components/schemas/"+ref}}}}
paths={
 "/-/admin/status":{"get":op("What this server runs with","Version, upstream list, routes, pools, reverse-proxy routes, storage, coordination, the last reload, tasks alive. Secrets are redacted.",ok("Status","Object"),tag="server")},
 "/-/admin/reload":{"post":op("Reload the configuration","Reads the configuration again and applies what a running server can change; reports what needs a restart.",{"200":{"description":"Applied; the report.","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Object"}}}}},tag="server")},
 "/-/admin/catalog":{"get":op("Cached modules and versions","Modules in path order, paginated; each with its versions (newest first): objects held, size, when cached, first and last served, how often, verification state, quarantine.",ok("A page of the catalog","Catalog"),params=[q("prefix","Module paths starting with this."),q("q","Module paths containing this (case-insensitive)."),q("page","Page number, from 1.","integer",extra={"minimum":1,"default":1}),q("per_page","Modules per page.","integer",extra={"minimum":1,"maximum":500,"default":50})],tag="catalog")},
 "/-/admin/module":{"get":op("One cached module","Its versions (as in the catalog), the go.mod of its newest cached version, and the cached versions of other modules that require it.",{**ok("The module","ModuleDetail"),"404":{"$ref":"#/components/responses/NotFound"}},params=[q("path","The module path (unescaped).",required=True)],tag="catalog")},
 "/-/admin/stats":{"get":op("What was served","Hits, misses, hit ratio, bytes, the most requested modules and the busiest clients (by key name), since counting began; the cache's size.",ok("Figures","Stats"),params=[q("top","How many modules and clients to rank.","integer",extra={"default":10,"maximum":1000})],tag="stats")},
 "/-/admin/upstreams":{"get":op("Upstream health","The default upstream list, each pool member's and reverse-proxy backend's health, and the Redis replicas coordinate through.",ok("Health","Object"),tag="stats")},
 "/-/admin/audit":{"get":op("The audit log's latest lines","Newest first, from the last 10,000 lines kept in memory (the audit_log file keeps them all).",ok("Entries","Audit"),params=[q("who","Caller name contains this."),q("module","Module contains this."),q("action","read, write or admin (exact)."),q("event","admin, checksum-mismatch, ... (exact)."),q("allowed","Decisions allowed (true) or denied (false).","boolean"),q("limit","At most this many.","integer",extra={"default":100,"maximum":10000})],tag="audit")},
 "/-/admin/purge":{"post":op("Forget a module's mutable answers","Its list, @latest and query answers and remembered not-found answers go; the next request asks its source. Cached versions stay.",ok("How many answers went","Object"),body=jbody("ModuleRef"),tag="actions")},
 "/-/admin/quarantine":{
   "get":op("Quarantined versions","Every quarantined version, who put it there, when and why.",ok("The quarantine","Quarantine"),tag="actions"),
   "post":op("Quarantine a version","From now on its .info, .mod and .zip are answered 410 Gone with the reason, list leaves it out, and an @latest or query answer naming it is refused. Nothing is deleted.",{"201":{"description":"Quarantined.","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Quarantined"}}}},"200":{"description":"Already quarantined; the reason replaced."}},body=jbody("QuarantineRequest"),tag="actions"),
   "delete":op("Release a version","Serves it again.",{"200":{"description":"Released; the entry it had."},"404":{"$ref":"#/components/responses/NotFound"}},params=[q("module","Module path.",required=True),q("version","Canonical version.",required=True)],tag="actions")},
 "/-/admin/verify":{"post":op("Re-verify","With module and version: re-verifies that cached version now (its zip checked in full and hashed, its go.mod hashed, both compared with the hashes recorded when it was committed and put to the checksum database and own log where configured) and returns the ledger record. With an empty body or {}: every cached version, in a background job.",{"200":{"description":"The ledger record of one version.","content":{"application/json":{"schema":{"$ref":"#/components/schemas/LedgerRecord"}}}},"202":{"description":"A job started.","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Job"}}}},"404":{"$ref":"#/components/responses/NotFound"}},body=jbody("VerifyRequest",False),tag="actions")},
 "/-/admin/warm":{"post":op("Warm the cache from a go.sum, go.mod or go.work","The file is the body. A go.sum (or go.work.sum): every line's go.mod, and the zip of each line without /go.mod, whose hashes must equal the go.sum's; a go.mod or go.work (its replacements by a module version): the go.mod of every version of the requirement graph, then the zips of the build list (the highest version of each module). Runs in the background, four versions at a time.",{"202":{"description":"A job started.","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Job"}}}}},params=[q("name","go.sum, go.mod, go.work or go.work.sum (else the text decides).")],body={"required":True,"content":{"text/plain":{"schema":{"type":"string"}}}},tag="actions")},
 "/-/admin/gc":{
   "get":op("Garbage collection","[cache] max_size, the objects and bytes evicted since start, and the last collection's report.",ok("Figures","Object"),tag="actions"),
   "post":op("Collect now","Evicts what takes the upstream-cached objects under 90 % of [cache] max_size: zips least recently served first, then the go.mod and .info of versions no longer listed. Published and private versions are never evicted. With dry_run=true, only says what would go.",ok("The report","GcReport"),params=[q("dry_run","Say what would go; evict nothing.","boolean")],tag="actions")},
 "/-/admin/jobs":{"get":op("Background jobs","The last 100 jobs, newest first.",ok("Jobs","Jobs"),tag="actions")},
 "/-/admin/jobs/{id}":{"parameters":[{"name":"id","in":"path","required":True,"schema":{"type":"string"}}],"get":op("One job's progress","Items total, done and failed; the first problems met.",{**ok("The job","Job"),"404":{"$ref":"#/components/responses/NotFound"}},tag="actions")},
 "/-/admin/keys":{
   "get":op("API keys","Id, name, groups, created, revoked. Never secrets or hashes.",ok("Keys","Keys"),tag="keys"),
   "post":op("Add a key","The answer holds the key; it is shown once and only its hash is stored. In force at once.",{"201":{"description":"Added.","content":{"application/json":{"schema":{"$ref":"#/components/schemas/NewKey"}}}}},body=jbody("KeyRequest"),tag="keys")},
 "/-/admin/keys/{id}":{"parameters":[{"name":"id","in":"path","required":True,"description":"Key id or name.","schema":{"type":"string"}}],"delete":op("Revoke a key","In force at once.",{"200":{"description":"Revoked."},"404":{"$ref":"#/components/responses/NotFound"}},tag="keys")},
}
S=lambda props, req=None: {"type":"object","properties":props, **({"required":req} if req else {})}
st={"type":"string"}; it={"type":"integer"}; ts={"type":"string","format":"date-time"}
schemas={
 "Object":{"type":"object","additionalProperties":True},
 "Error":S({"error":st},["error"]),
 "ModuleRef":S({"module":st},["module"]),
 "QuarantineRequest":S({"module":st,"version":st,"reason":st},["module","version","reason"]),
 "Quarantined":S({"module":st,"version":st,"reason":st,"by":st,"at":ts}),
 "Quarantine":S({"quarantined":{"type":"array","items":{"$ref":"#/components/schemas/Quarantined"}}}),
 "VerifyRequest":S({"module":st,"version":st}),
 "LedgerRecord":S({"module":st,"version":st,"zip_h1":st,"mod_h1":st,"committed":ts,"state":{"type":"string","enum":["verified_at_fill","reverified","mismatch"]},"checked":ts,"detail":st}),
 "Version":S({"version":st,"info":{"type":"boolean"},"mod":{"type":"boolean"},"zip":{"type":"boolean"},"size":it,"cached":ts,"source":st,"first_served":ts,"last_served":ts,"served":it,"verification":st,"checked":ts,"zip_h1":st,"mod_h1":st,"quarantined":{"$ref":"#/components/schemas/Quarantined"}}),
 "Module":S({"path":st,"source":st,"versions":{"type":"array","items":{"$ref":"#/components/schemas/Version"}}}),
 "ModuleDetail":{"allOf":[{"$ref":"#/components/schemas/Module"},S({"go_mod":st,"go_mod_version":st,"dependents":{"type":"array","items":S({"module":st,"version":st,"requires":st})}})]},
 "Catalog":S({"total":it,"page":it,"per_page":it,"objects":it,"bytes":it,"modules":{"type":"array","items":{"$ref":"#/components/schemas/Module"}}}),
 "Top":S({"name":st,"requests":it,"bytes":it}),
 "Stats":S({"since":ts,"hits":it,"misses":it,"hit_ratio":{"type":"number"},"bytes":it,"top_modules":{"type":"array","items":{"$ref":"#/components/schemas/Top"}},"top_clients":{"type":"array","items":{"$ref":"#/components/schemas/Top"}},"cache":{"$ref":"#/components/schemas/Object"},"quarantined":it}),
 "Audit":S({"entries":{"type":"array","items":{"$ref":"#/components/schemas/Object"}}}),
 "Job":S({"id":st,"kind":{"type":"string","enum":["warm","verify"]},"by":st,"started":ts,"ended":ts,"state":{"type":"string","enum":["running","done"]},"total":it,"done":it,"failed":it,"problems":{"type":"array","items":st}}),
 "GcReport":S({"at":ts,"dry_run":{"type":"boolean"},"limit":it,"before":it,"after":it,"protected":it,"evicted_objects":it,"evicted_bytes":it,"evicted":{"type":"array","items":S({"key":st,"module":st,"version":st,"size":it,"last_served":ts,"why":st})},"errors":{"type":"array","items":st}}),
 "Jobs":S({"jobs":{"type":"array","items":{"$ref":"#/components/schemas/Job"}}}),
 "Key":S({"id":st,"name":st,"groups":{"type":"array","items":st},"created":st,"revoked":{"type":"boolean"}}),
 "Keys":S({"keys":{"type":"array","items":{"$ref":"#/components/schemas/Key"}}}),
 "KeyRequest":S({"name":st,"groups":{"type":"array","items":st}},["name"]),
 "NewKey":S({"id":st,"name":st,"groups":{"type":"array","items":st},"key":st,"note":st}),
}
def resp(desc): return {"description":desc,"content":{"application/json":{"schema":{"$ref":"#/components/schemas/Error"}}}}
doc={"openapi":"3.1.0",
 "info":{"title":"modgate admin API","version":"1","description":"The admin API of modgate, under /-/admin/ on the server's own listener. Every call needs an API key (X-API-Key, Bearer, or the password of Basic auth) of a group the policy's `admin` list names, and every call is audited (an `admin` event with who, what and the status). Answers are JSON; errors are {\"error\": \"...\"}."},
 "security":[{"apiKey":[]},{"bearer":[]}],
 "tags":[{"name":n} for n in ["server","catalog","stats","audit","actions","keys"]],
 "paths":paths,
 "components":{"securitySchemes":{"apiKey":{"type":"apiKey","in":"header","name":"X-API-Key"},"bearer":{"type":"http","scheme":"bearer"}},
   "schemas":schemas,
   "responses":{"Bad":resp("The request is malformed (the error says why)."),"Unauthorized":resp("No credentials, or unknown or revoked ones."),"Forbidden":resp("The caller is not in an admin group (or [auth] is not configured). With hide_denied, 404."),"NotFound":resp("No such thing.")}}}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "openapi.json")
with open(out, "w") as f:
    f.write(json.dumps(doc, indent=2) + "\n")
