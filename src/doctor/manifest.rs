//! The kubelet static-pod manifest of etcd: the etcd command line of its
//! container (command, args and `ETCD_*` environment variables), and the
//! hostPath volumes that map the container's paths to the node's.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use yaml_rust2::{Yaml, YamlLoader};

/// A volume mount of the etcd container, resolved to its hostPath volume.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Mount {
    pub name: String,
    pub mount_path: String,
    /// The hostPath volume's path; None for a volume of another kind or a
    /// mount naming no volume.
    pub host_path: Option<String>,
}

/// What the manifest says about etcd.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Manifest {
    pub path: PathBuf,
    pub container: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The container's command followed by its args.
    pub command: Vec<String>,
    /// `ETCD_*` environment variables as flags (`ETCD_NAME` is `--name`).
    pub env_flags: Vec<(String, String)>,
    pub mounts: Vec<Mount>,
}

/// Parse a manifest's text. Errors say why it is not a pod with an etcd
/// container.
pub fn parse(path: &Path, text: &str) -> Result<Manifest, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    let doc = docs
        .into_iter()
        .find(|d| !d.is_null())
        .ok_or("the file holds no YAML document")?;
    if doc.as_hash().is_none() {
        return Err("the document is not a mapping (a Pod object)".into());
    }
    if let Some(kind) = doc["kind"].as_str() {
        if kind != "Pod" {
            return Err(format!("kind is {kind}, not Pod"));
        }
    }
    let spec = &doc["spec"];
    let containers = spec["containers"]
        .as_vec()
        .ok_or("spec.containers is missing or not a list")?;
    let strings = |y: &Yaml| -> Vec<String> {
        y.as_vec()
            .map(|v| v.iter().filter_map(scalar).collect())
            .unwrap_or_default()
    };
    let is_etcd = |c: &Yaml| {
        c["name"].as_str() == Some("etcd")
            || strings(&c["command"])
                .first()
                .is_some_and(|s| s.rsplit('/').next() == Some("etcd"))
    };
    let c = containers
        .iter()
        .find(|c| is_etcd(c))
        .ok_or("no container named etcd (or running the etcd binary) in spec.containers")?;
    let mut command = strings(&c["command"]);
    command.extend(strings(&c["args"]));
    let env_flags = c["env"]
        .as_vec()
        .map(|v| {
            v.iter()
                .filter_map(|e| {
                    let name = e["name"].as_str()?;
                    let value = scalar(&e["value"])?;
                    let flag = name.strip_prefix("ETCD_")?;
                    Some((flag.to_ascii_lowercase().replace('_', "-"), value))
                })
                .collect()
        })
        .unwrap_or_default();
    let volumes: BTreeMap<String, Option<String>> = spec["volumes"]
        .as_vec()
        .map(|v| {
            v.iter()
                .filter_map(|vol| {
                    Some((
                        vol["name"].as_str()?.to_string(),
                        vol["hostPath"]["path"].as_str().map(str::to_string),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let mounts = c["volumeMounts"]
        .as_vec()
        .map(|v| {
            v.iter()
                .filter_map(|m| {
                    let name = m["name"].as_str()?.to_string();
                    let mount_path = m["mountPath"].as_str()?.to_string();
                    let host_path = volumes.get(&name).cloned().flatten();
                    Some(Mount {
                        name,
                        mount_path,
                        host_path,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Manifest {
        path: path.to_path_buf(),
        container: c["name"].as_str().unwrap_or("").to_string(),
        image: c["image"].as_str().map(str::to_string),
        command,
        env_flags,
        mounts,
    })
}

fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// etcd's flags, the last occurrence winning as with Go's flag package.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Flags {
    pub values: BTreeMap<String, String>,
}

impl Flags {
    /// Parse a command line (`etcd --a=b --c d --bool`); the program name,
    /// when first, is skipped. Single-dash flags are accepted as Go does.
    pub fn parse(args: &[String]) -> Flags {
        let mut values = BTreeMap::new();
        let mut i = 0;
        while let Some(a) = args.get(i) {
            i += 1;
            let Some(body) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
                continue;
            };
            if body.is_empty() {
                continue;
            }
            if let Some((k, v)) = body.split_once('=') {
                values.insert(k.to_string(), v.to_string());
            } else if let Some(next) = args.get(i).filter(|n| !n.starts_with('-')) {
                values.insert(body.to_string(), next.clone());
                i += 1;
            } else {
                values.insert(body.to_string(), "true".to_string());
            }
        }
        Flags { values }
    }

    /// Add flags that are not set yet (environment variables lose to flags).
    pub fn fill(&mut self, extra: &[(String, String)]) {
        for (k, v) in extra {
            self.values.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }

    /// Override with these flags.
    pub fn merge(&mut self, other: &Flags) {
        for (k, v) in &other.values {
            self.values.insert(k.clone(), v.clone());
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn bool(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "t"))
    }

    /// A comma-separated list flag.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// How a path of the etcd container is found on the node.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resolved {
    /// The path as etcd sees it.
    pub container: String,
    /// Where it is on the node (under `--root` when given).
    pub host: PathBuf,
    /// The volume it is mounted through, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    /// True when a manifest is in use and no hostPath volume covers the
    /// path: etcd inside the pod cannot see the node's file.
    pub unmounted: bool,
}

/// Maps container paths to host paths.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    pub root: Option<PathBuf>,
    /// (mount path, host path, volume name); empty without a manifest.
    pub mounts: Vec<(String, String, String)>,
    pub have_manifest: bool,
}

impl Resolver {
    pub fn new(root: Option<PathBuf>, manifest: Option<&Manifest>) -> Resolver {
        let mounts = manifest
            .map(|m| {
                m.mounts
                    .iter()
                    .filter_map(|mt| {
                        Some((
                            mt.mount_path.clone(),
                            mt.host_path.clone()?,
                            mt.name.clone(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Resolver {
            root,
            mounts,
            have_manifest: manifest.is_some(),
        }
    }

    /// A node path under the root.
    pub fn on_node(&self, p: &str) -> PathBuf {
        match &self.root {
            Some(r) => r.join(p.trim_start_matches('/')),
            None => PathBuf::from(p),
        }
    }

    /// Resolve a path etcd is given (inside the pod when a manifest is in
    /// use) to the node's path.
    pub fn resolve(&self, p: &str) -> Resolved {
        if !self.have_manifest {
            return Resolved {
                container: p.to_string(),
                host: self.on_node(p),
                volume: None,
                unmounted: false,
            };
        }
        let target = Path::new(p);
        let best = self
            .mounts
            .iter()
            .filter_map(|(mp, hp, name)| {
                let rest = strip_components(target, Path::new(mp))?;
                Some((Path::new(mp).components().count(), rest, hp, name))
            })
            .max_by_key(|(n, ..)| *n);
        match best {
            Some((_, rest, hp, name)) => {
                let host = if rest.as_os_str().is_empty() {
                    PathBuf::from(hp)
                } else {
                    Path::new(hp).join(rest)
                };
                Resolved {
                    container: p.to_string(),
                    host: self.on_node(&host.to_string_lossy()),
                    volume: Some(name.clone()),
                    unmounted: false,
                }
            }
            None => Resolved {
                container: p.to_string(),
                host: self.on_node(p),
                volume: None,
                unmounted: true,
            },
        }
    }
}

/// `p` relative to `prefix` when `prefix` is a whole-component prefix.
fn strip_components(p: &Path, prefix: &Path) -> Option<PathBuf> {
    let norm = |x: &Path| -> Vec<String> {
        x.components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect()
    };
    let (a, b) = (norm(p), norm(prefix));
    if a.len() < b.len() || a.iter().zip(&b).any(|(x, y)| x != y) {
        return None;
    }
    Some(a.iter().skip(b.len()).collect())
}

/// The directory a layout is rooted at when the manifest lies at
/// `ROOT/etc/kubernetes/manifests/NAME` and ROOT is not `/`.
pub fn inferred_root(manifest: &Path) -> Option<PathBuf> {
    let abs = std::fs::canonicalize(manifest).ok()?;
    let dir = abs.parent()?;
    let tail: Vec<String> = dir
        .components()
        .rev()
        .take(3)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if tail != ["manifests", "kubernetes", "etc"] {
        return None;
    }
    let root = dir.parent()?.parent()?.parent()?;
    (root != Path::new("/")).then(|| root.to_path_buf())
}

/// The directory a layout is rooted at when `--pki` is `ROOT/etc/kubernetes/pki`
/// and ROOT is not `/`.
pub fn inferred_root_of_pki(pki: &Path) -> Option<PathBuf> {
    let abs = std::fs::canonicalize(pki).ok()?;
    let tail: Vec<String> = abs
        .components()
        .rev()
        .take(3)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if tail != ["pki", "kubernetes", "etc"] {
        return None;
    }
    let root = abs.parent()?.parent()?.parent()?;
    (root != Path::new("/")).then(|| root.to_path_buf())
}

/// A URL of etcd's flags: scheme, host (brackets removed), port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: String,
    pub host: String,
    pub port: Option<u16>,
}

/// Parse `scheme://host[:port][/path]` as etcd needs it.
pub fn parse_url(s: &str) -> Result<Url, String> {
    let (scheme, rest) = s
        .split_once("://")
        .ok_or_else(|| format!("{s:?} has no scheme (http:// or https://)"))?;
    let scheme = scheme.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "http" | "https" | "unix" | "unixs") {
        return Err(format!(
            "{s:?}: scheme {scheme:?} is not http, https, unix or unixs"
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{s:?}: unclosed [ in the host"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("{s:?}: junk after the IPv6 host")),
        };
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| format!("{s:?}: port {p:?} is not a number from 0 to 65535"))?,
        ),
        None => None,
    };
    if host.is_empty() && !scheme.starts_with("unix") {
        return Err(format!("{s:?} has no host"));
    }
    Ok(Url { scheme, host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: &str = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command:\n    - etcd\n    - --name=n1\n    - --data-dir=/var/lib/etcd\n    - --client-cert-auth\n    - --snapshot-count\n    - '10000'\n    name: etcd\n    env:\n    - name: ETCD_QUOTA_BACKEND_BYTES\n      value: '8589934592'\n    volumeMounts:\n    - mountPath: /var/lib/etcd\n      name: etcd-data\n    - mountPath: /etc/kubernetes/pki/etcd\n      name: etcd-certs\n  volumes:\n  - hostPath:\n      path: /etc/kubernetes/pki/etcd\n    name: etcd-certs\n  - hostPath:\n      path: /data/etcd\n    name: etcd-data\n";

    #[test]
    fn manifest_flags_and_volumes() {
        let m = parse(Path::new("etcd.yaml"), POD).unwrap();
        let mut f = Flags::parse(&m.command);
        f.fill(&m.env_flags);
        assert_eq!(f.get("name"), Some("n1"));
        assert!(f.bool("client-cert-auth"));
        assert_eq!(f.get("snapshot-count"), Some("10000"));
        assert_eq!(f.get("quota-backend-bytes"), Some("8589934592"));
        let r = Resolver::new(Some(PathBuf::from("/tmp/r")), Some(&m));
        let d = r.resolve("/var/lib/etcd");
        assert_eq!(d.host, PathBuf::from("/tmp/r/data/etcd"));
        let c = r.resolve("/etc/kubernetes/pki/etcd/server.crt");
        assert_eq!(
            c.host,
            PathBuf::from("/tmp/r/etc/kubernetes/pki/etcd/server.crt")
        );
        assert!(r.resolve("/etc/kubernetes/pki/apiserver.crt").unmounted);
        assert!(r.resolve("/var/lib/etcd2").unmounted);
    }

    #[test]
    fn bad_manifests_are_errors() {
        for t in [
            "",
            "[",
            "a: [",
            "- 1",
            "kind: Service",
            "spec: 3",
            "spec:\n  containers: 4",
            "spec:\n  containers:\n  - name: nginx",
        ] {
            assert!(parse(Path::new("x"), t).is_err(), "{t:?}");
        }
    }

    #[test]
    fn urls() {
        let u = parse_url("https://[::1]:2379").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", Some(2379)));
        let u = parse_url("https://10.0.0.1:2380/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("10.0.0.1", Some(2380)));
        assert!(parse_url("10.0.0.1:2380").is_err());
        assert!(parse_url("https://:2380").is_err());
        assert!(parse_url("https://h:99999").is_err());
        assert!(parse_url("https://[::1").is_err());
    }
}
