//! Kubernetes values stored in etcd: recognising the encoding
//! ([`envelope`]), the schema that names protobuf fields ([`schema`], built
//! in from [`infer`]red test data and Go facts), decoding to the JSON the
//! apiserver serves ([`decode`], [`cbor`], [`time`]).
#![forbid(unsafe_code)]

pub mod cbor;
pub mod columns;
pub mod convert;
pub mod crypt;
pub mod decode;
pub mod envelope;
pub mod etcdctl;
pub mod gotypes;
pub mod infer;
pub mod jsonpath;
pub mod render;
pub mod resources;
pub mod schema;
pub mod selector;
pub mod time;
