//! [`MemoryHost`]: a [`HostState`] over in-memory maps, the reference implementation of the trait for
//! tests, tools and the simulator.

use std::collections::BTreeMap;

use covenant_types::ContractId;

use crate::error::{Unavailable, VmError};
use crate::runtime::{CallOutcome, HostState};
use crate::validate::ValidatedModule;

/// Contract storage and a contract registry held in memory.
#[derive(Clone, Debug, Default)]
pub struct MemoryHost {
    storage: BTreeMap<(ContractId, Vec<u8>), Vec<u8>>,
    contracts: BTreeMap<ContractId, (ValidatedModule, Option<Unavailable>)>,
}

impl MemoryHost {
    /// An empty host: no storage, no contracts.
    pub fn new() -> MemoryHost {
        MemoryHost::default()
    }

    /// Registers `module` as the admitted, runnable contract `contract`.
    pub fn admit(&mut self, contract: ContractId, module: ValidatedModule) {
        self.contracts.insert(contract, (module, None));
    }

    /// Marks `contract` paused or retired (`Some`), or runnable again (`None`).
    pub fn set_unavailable(&mut self, contract: &ContractId, reason: Option<Unavailable>) {
        if let Some(entry) = self.contracts.get_mut(contract) {
            entry.1 = reason;
        }
    }

    /// The module of `contract`, whatever its status.
    pub fn module(&self, contract: &ContractId) -> Option<&ValidatedModule> {
        self.contracts.get(contract).map(|(module, _)| module)
    }

    /// Applies the writes of a successful call.
    pub fn apply(&mut self, outcome: &CallOutcome) {
        for write in &outcome.writes {
            let slot = (write.contract.clone(), write.key.clone());
            match &write.value {
                Some(value) => {
                    self.storage.insert(slot, value.clone());
                }
                None => {
                    self.storage.remove(&slot);
                }
            }
        }
    }

    /// The stored value of `key` in `contract`'s namespace.
    pub fn get(&self, contract: &ContractId, key: &[u8]) -> Option<&[u8]> {
        self.storage.get(&(contract.clone(), key.to_vec())).map(Vec::as_slice)
    }

    /// All storage, ordered by contract then key.
    pub fn storage(&self) -> &BTreeMap<(ContractId, Vec<u8>), Vec<u8>> {
        &self.storage
    }
}

impl HostState for MemoryHost {
    fn storage_get(&mut self, contract: &ContractId, key: &[u8]) -> Result<Option<Vec<u8>>, VmError> {
        Ok(self.get(contract, key).map(<[u8]>::to_vec))
    }

    fn contract(&mut self, contract: &ContractId) -> Result<ValidatedModule, VmError> {
        match self.contracts.get(contract) {
            Some((module, None)) => Ok(module.clone()),
            Some((_, Some(reason))) => {
                Err(VmError::ContractUnavailable { contract: contract.clone(), reason: *reason })
            }
            None => Err(VmError::ContractUnavailable { contract: contract.clone(), reason: Unavailable::NotAdmitted }),
        }
    }
}
