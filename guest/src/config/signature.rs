//! The config's custom signatures, `read.signature` and `write.signature`
//! (README "Custom signatures").

use super::values::Place;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A custom request signature (README "Custom signatures").
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// The parameter or header that carries the signature.
    pub name: String,
    pub location: Place,
    pub function: SignFunction,
    /// Overrides the function's encoding: `hex`, `HEX` (upper case), `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    /// The key of the `HMAC_*` functions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default)]
    pub content: SignContent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum SignFunction {
    MD5HEX,
    SHA1HEX,
    SHA256HEX,
    SHA512HEX,
    SHA256,
    HMAC_MD5,
    HMAC_SHA1,
    HMAC_SHA256,
    HMAC_SHA512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Encoding {
    #[serde(rename = "hex")]
    Hex,
    #[serde(rename = "HEX")]
    UpperHex,
    #[serde(rename = "base64")]
    Base64,
}

/// Which request values are signed, and how they are joined.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignContent {
    #[serde(default)]
    pub include: Include,
    #[serde(default = "default_from")]
    pub from: Vec<SignFrom>,
    #[serde(default)]
    pub mode: SignMode,
    #[serde(default)]
    pub order: SignOrder,
    #[serde(default = "ampersand")]
    pub separator: String,
    #[serde(default = "equals")]
    pub pair_separator: String,
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub suffix: String,
}

impl Default for SignContent {
    fn default() -> Self {
        SignContent {
            include: Include::default(),
            from: default_from(),
            mode: SignMode::default(),
            order: SignOrder::default(),
            separator: ampersand(),
            pair_separator: equals(),
            prefix: String::new(),
            suffix: String::new(),
        }
    }
}

fn default_from() -> Vec<SignFrom> {
    vec![SignFrom::Params, SignFrom::Body]
}
fn ampersand() -> String {
    "&".into()
}
fn equals() -> String {
    "=".into()
}

/// `"all"` or a list of value names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Include {
    All(AllKeyword),
    Names(Vec<String>),
}

impl Default for Include {
    fn default() -> Self {
        Include::All(AllKeyword::All)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AllKeyword {
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignFrom {
    Params,
    Body,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignMode {
    #[default]
    NameValue,
    Values,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignOrder {
    /// Byte order of the names.
    #[default]
    Asc,
    Desc,
    /// As the values appear in the request.
    AsConfigured,
}
