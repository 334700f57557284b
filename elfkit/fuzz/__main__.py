"""`python -m elfkit.fuzz`: a campaign (see elfkit/fuzz/campaign.py)."""
import sys

from elfkit.fuzz.campaign import main

sys.exit(main())
