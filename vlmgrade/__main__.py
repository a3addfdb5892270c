import sys

from vlmgrade.cli import main

sys.exit(main())
