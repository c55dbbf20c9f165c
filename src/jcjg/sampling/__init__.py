"""The witnessed-sampling chain (000 4.3.4 items 1-3): sample codes and tags, samples registered
on site, electronic seals, witness records, commissions and the receipt check at the lab."""
